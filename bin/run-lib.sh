# Sourced by bin/afsbot and bin/backup-manager, with $root set: runs bin/<name> from dist/ when a
# build is there and no source file is newer than it, else from the TypeScript through tsx.
run_program() {
  name=$1
  shift
  built="$root/dist/bin/$name.js"
  if [ -z "${AFSBOT_FROM_SOURCE:-}" ] && [ -f "$built" ] && [ -f "$root/dist/.built" ]; then
    newer=$(find "$root/bin" "$root/bot" "$root/adapters" "$root/actions" -name '*.ts' -newer "$root/dist/.built" 2>/dev/null | head -n 1)
    if [ -z "$newer" ]; then
      exec node "$built" "$@"
    fi
    echo "$name: $newer is newer than the build in dist/; running the TypeScript (npm run build updates dist/)" >&2
  fi
  exec node --import "$root/node_modules/tsx/dist/esm/index.mjs" "$root/bin/$name.ts" "$@"
}
