"""Plugin title."""


def render(text: str) -> str:
    return text.title()
