"""Page-number pagination for admin lists (message history uses cursors)."""
from sqlalchemy import func, select

from extensions import db


def paginate(stmt, page, page_size):
    """Run stmt for one page and count the whole result."""
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    items = db.session.scalars(stmt.limit(page_size).offset((page - 1) * page_size)).unique().all()
    return {"items": items, "page": page, "page_size": page_size, "total": total}
