// gozcu protocol client (placeholder; written by the dashboard author)
