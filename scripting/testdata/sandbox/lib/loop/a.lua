return require "loop.b"
