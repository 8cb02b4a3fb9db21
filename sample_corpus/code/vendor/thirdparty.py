# Vendored third-party helper (stand-in). Not part of this project's own code.
def clamp(value, low, high):
    return max(low, min(high, value))
