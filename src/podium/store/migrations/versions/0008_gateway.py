"""gateway: routes, deployments, limits, budgets, canary history

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "gateway_routes",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("spec", _JSON, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_gateway_routes_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_routes")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_gateway_routes_project_id_name")),
    )
    op.create_table(
        "gateway_route_events",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("details", _JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_gateway_route_events_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_route_events")),
    )
    with op.batch_alter_table("gateway_route_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_gateway_route_events_project_id_route_at"),
            ["project_id", "route", "at"],
            unique=False,
        )
    op.create_table(
        "gateway_limits",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("requests_per_minute", sa.Integer(), nullable=True),
        sa.Column("tokens_per_minute", sa.Integer(), nullable=True),
        sa.Column("cost_per_day", sa.Float(), nullable=True),
        sa.Column("cost_per_month", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_gateway_limits_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "scope", name=op.f("pk_gateway_limits")),
    )
    op.create_table(
        "gateway_usage",
        sa.Column("limiter", sa.String(length=200), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("used", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("limiter", "window_start", name=op.f("pk_gateway_usage")),
    )


def downgrade() -> None:
    op.drop_table("gateway_usage")
    op.drop_table("gateway_limits")
    with op.batch_alter_table("gateway_route_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gateway_route_events_project_id_route_at"))
    op.drop_table("gateway_route_events")
    op.drop_table("gateway_routes")
