"""Plugin swap."""


def render(text: str) -> str:
    return text.swapcase()
