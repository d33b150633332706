"""Plugin lower."""


def render(text: str) -> str:
    return text.lower()
