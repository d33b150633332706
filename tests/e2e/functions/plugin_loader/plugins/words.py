"""Plugin words."""


def render(text: str) -> str:
    return str(len(text.split()))
