// vendored UI library (placeholder; added by the dashboard author)
