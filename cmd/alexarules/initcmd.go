package main

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/alexarules/alexarules/rules/luadefs"
	"github.com/spf13/cobra"
)

var (
	//go:embed initdir/hello.lua
	helloRule []byte
	//go:embed initdir/hello_test.lua
	helloTest []byte
	//go:embed initdir/luarc.json
	luarc []byte
)

// scaffoldFile is a file `init` creates.
type scaffoldFile struct {
	path string // relative to the rules folder
	data []byte
}

// The definitions go into a dot folder: the loader skips those, so they
// are never taken for a rule file.
var definitionsPath = filepath.Join(".luals", luadefs.FileName)

// initCmd creates a rules folder: an example rule, the editor definitions
// and a .luarc.json that points LuaLS at them.
func (a *app) initCmd() *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "init DIR",
		Short: "create a rules folder with an example rule, its test and editor definitions",
		Long: `init creates DIR with an example rule (hello.lua) and its test (hello_test.lua), the LuaLS definitions of the rule API
(` + definitionsPath + `) and a .luarc.json that points VS Code or Neovim at them. It refuses a
DIR that is not empty unless --force, and never overwrites a file: with --force, the files
that exist are kept and only the missing ones are written.`,
		Args: cobra.ExactArgs(1),
	}
	c.Flags().BoolVar(&force, "force", false, "add the missing files to a folder that is not empty (never overwrites)")
	c.RunE = a.action(func(_ *cobra.Command, args []string) error {
		dir := args[0]
		if err := checkInitDir(dir, force); err != nil {
			return err
		}
		files := []scaffoldFile{{"hello.lua", helloRule}, {"hello_test.lua", helloTest}, {definitionsPath, luadefs.Generate()}, {".luarc.json", luarc}}
		for _, f := range files {
			p := filepath.Join(dir, f.path)
			created, err := createFile(p, f.data)
			if err != nil {
				return err
			}
			if created {
				fmt.Fprintf(a.stdout, "created %s\n", p)
			} else {
				fmt.Fprintf(a.stdout, "kept    %s (exists)\n", p)
			}
		}
		a.nextSteps(dir)
		return nil
	})
	return c
}

// checkInitDir refuses a path that is a file, or a folder with anything in
// it unless force.
func checkInitDir(dir string, force bool) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return usagef("%s: %w", dir, err)
	case len(entries) > 0 && !force:
		return usagef("%s is not empty: use --force to add the missing files (none is overwritten), or name a new folder", dir)
	}
	return nil
}

// createFile writes a new file, with its folders; it reports false and
// leaves the file alone when it exists.
func createFile(path string, data []byte) (bool, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("creating %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return false, fmt.Errorf("writing %s: %w", path, err)
	}
	return true, f.Close()
}

// nextSteps prints the commands that take the new folder further.
func (a *app) nextSteps(dir string) {
	fmt.Fprintf(a.stdout, "\nNext:\n  alexarules check %s\n  alexarules test %s\n", dir, dir)
	fmt.Fprintf(a.stdout, "  alexarules sim --listen 127.0.0.1:9000            # in another terminal: a simulated Alexa cloud\n"+
		"  alexarules run --rules %s --cloud http://127.0.0.1:9000\n"+
		"  curl -X POST localhost:8080/api/events -d '{\"name\":\"hello\"}'\n", dir)
}
