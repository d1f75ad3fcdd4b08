// gozcu dashboard app (placeholder; written by the dashboard author)
