"""Plugin chars."""


def render(text: str) -> str:
    return str(len(text))
