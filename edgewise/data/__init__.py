"""Dataset readers, synthetic generators and downloaders (import the module you need: ludb, audio, ...).

Kept empty so that importing one reader does not pull in the others' dependencies.
"""
