"""Mining repository tasks from a repository and its own tests."""
