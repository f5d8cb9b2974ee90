"""The shared kernel: what the registry, the policy toolchain and the sidecar all need (problem
details, request headers, the safe YAML loader, CLI plumbing, the TTL cache, JSON logging, the
sidecar audit event). It imports none of `registry`, `bundles`, `sidecar` (import-linter checks
this in CI), so every app can depend on it without depending on another app."""
