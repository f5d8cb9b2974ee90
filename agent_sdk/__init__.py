"""The agent side of GreenLang: the runtime contract an agent artifact fulfils and the host that
serves it (``agent_sdk.host``). Depends on aiohttp and the standard library only, so it runs
wherever an agent runs (a local process, a container), apart from the registry and sidecar."""
