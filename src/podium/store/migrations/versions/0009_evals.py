"""evals: eval experiments, per-item results, judge cache

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    op.create_table(
        "eval_experiments",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("suite", sa.String(length=200), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("target_hash", sa.String(length=64), nullable=False),
        sa.Column("dataset", sa.String(length=200), nullable=False),
        sa.Column("dataset_version", sa.Integer(), nullable=False),
        sa.Column("prompt", sa.String(length=200), nullable=True),
        sa.Column("prompt_version", sa.Integer(), nullable=True),
        sa.Column("scorers", json_type, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.Column("metrics", json_type, nullable=False),
        sa.Column("summary", json_type, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_eval_experiments_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_eval_experiments_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_eval_experiments")),
    )
    op.create_index(
        op.f("ix_eval_experiments_project_id_suite_created_at"),
        "eval_experiments",
        ["project_id", "suite", "created_at"],
        unique=False,
    )
    op.create_table(
        "eval_items",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("item_key", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("group_name", sa.String(length=200), nullable=True),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("expected", sa.Text(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("scores", json_type, nullable=False),
        sa.Column("details", json_type, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["eval_experiments.run_id"],
            name=op.f("fk_eval_items_run_id_eval_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "item_key", name=op.f("pk_eval_items")),
    )
    op.create_table(
        "eval_judge_cache",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_eval_judge_cache_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "request_hash", name=op.f("pk_eval_judge_cache")),
    )


def downgrade() -> None:
    op.drop_table("eval_judge_cache")
    op.drop_table("eval_items")
    op.drop_index(
        op.f("ix_eval_experiments_project_id_suite_created_at"), table_name="eval_experiments"
    )
    op.drop_table("eval_experiments")
