package main

import (
	"fmt"
	"os"

	"github.com/alexarules/alexarules/rules/luadefs"
	"github.com/spf13/cobra"
)

// typesCmd writes the LuaLS definitions of the rule API.
func (a *app) typesCmd() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "types [--out FILE]",
		Short: "write LuaLS (---@meta) definitions of the rule API, for completion and checks in editors",
		Long: `types writes LuaLS (lua-language-server, "sumneko") definitions of the rule API: rule and its
fields, every trigger and its options, ev by kind, ctx, device(), alexa.*, time.* and the
rule tests' API. docs/RULES.md ("Editor support") says how VS Code and Neovim use them.`,
		Args: cobra.NoArgs,
	}
	c.Flags().StringVar(&out, "out", "", "write to FILE instead of standard output")
	c.RunE = a.action(func(*cobra.Command, []string) error {
		defs := luadefs.Generate()
		if out == "" {
			_, err := a.stdout.Write(defs)
			return err
		}
		if err := os.WriteFile(out, defs, 0o644); err != nil {
			return fmt.Errorf("writing the definitions: %w", err)
		}
		return nil
	})
	return c
}
