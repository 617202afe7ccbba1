// Owns pagination links: parsing RFC 8288 `Link: <url>; rel="next"` headers (several links per header, several
// headers) and resolving the next page's URL against the request URL (registries send relative links).

/** The `rel="next"` target of Link header values, resolved against `base`; undefined when there is none. */
export function nextLink(values: string[], base: URL): URL | undefined {
  for (const value of values) {
    // Split on commas that start a new <link>: a URL may itself contain commas.
    for (const part of value.split(/,(?=\s*<)/)) {
      const m = /^\s*<([^>]*)>(.*)$/.exec(part);
      if (m === null) continue;
      const params = m[2] ?? '';
      const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^;\s]+))/i.exec(params);
      const rels = (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/);
      if (!rels.includes('next')) continue;
      try {
        return new URL(m[1] ?? '', base);
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
