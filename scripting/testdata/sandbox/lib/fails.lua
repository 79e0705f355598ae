local M = {}
error("fails on purpose")
return M
