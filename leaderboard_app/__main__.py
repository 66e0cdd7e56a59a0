"""``python -m leaderboard_app worker -l info`` runs a worker, as ``faust -A leaderboard_app`` does."""

from leaderboard_app.app import app


def main() -> None:
    app.main()


if __name__ == "__main__":
    main()
