"""tracing: trace tags, scores on traces, retention (filled by the tracing SDK work)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trace_tags",
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("tag", sa.String(length=200), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_trace_tags_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trace_id", "tag", name=op.f("pk_trace_tags")),
    )
    with op.batch_alter_table("trace_tags", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trace_tags_project_id_tag"), ["project_id", "tag"], unique=False
        )

    op.create_table(
        "trace_scores",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_trace_scores_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_scores")),
    )
    with op.batch_alter_table("trace_scores", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trace_scores_project_id_name_value"),
            ["project_id", "name", "value"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_trace_scores_trace_id"), ["trace_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("trace_scores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trace_scores_trace_id"))
        batch_op.drop_index(batch_op.f("ix_trace_scores_project_id_name_value"))
    op.drop_table("trace_scores")
    with op.batch_alter_table("trace_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trace_tags_project_id_tag"))
    op.drop_table("trace_tags")
