// placeholder; see integration helper
