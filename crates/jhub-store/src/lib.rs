//! Persistence: SQLite and PostgreSQL through sqlx, migrations, and every table the hub keeps.
