// Owns the public surface of the OCI image layout module (re-exports).
export * from './oci-layout.js';
