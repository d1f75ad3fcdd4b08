// gozcu dashboard translations en/tr (placeholder)
