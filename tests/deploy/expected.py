EXPECTED: dict[str, list[tuple[str, float]]] = {}
