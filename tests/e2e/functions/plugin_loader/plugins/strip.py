"""Plugin strip."""


def render(text: str) -> str:
    return text.strip()
