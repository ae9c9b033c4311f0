"""What is being learned: each task owns its loss, its output layout and its metrics."""
