"""What every paginated result shares."""

from __future__ import annotations


class Paginated:
    """Mixed into a dataclass with `total` and `per_page` fields."""

    total: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))
