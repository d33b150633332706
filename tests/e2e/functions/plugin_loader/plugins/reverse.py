"""Plugin reverse."""


def render(text: str) -> str:
    return text[::-1]
