{
  "targets": [
    {
      "target_name": "ztoc_native",
      "sources": ["native/ztoc_native.c", "native/fast_inflate.c", "native/crc32.c", "native/ztoc_encode.c", "native/inflate_thread.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
