return require "loop.a"
