# Strata's image description, in Nix, needing no nixpkgs.
#
#   image = strata.lib.image {
#     name = "hello"; tag = "1.0";
#     contents = [ pkgs.hello ];            # closure roots of the image
#     copyToRoot = [ pkgs.busybox ];        # linked at / (bin/sh -> /nix/store/...)
#     config = { Entrypoint = [ "${pkgs.hello}/bin/hello" ]; Env = [ "LANG=C.UTF-8" ]; };
#     layers = [ [ pkgs.glibc ] ];          # explicit layer groups, bottom first
#     users = [ { name = "app"; uid = 1000; gid = 1000; } ];
#     caCertificates = pkgs.cacert;          # linked at /etc/ssl/certs/ca-certificates.crt
#   };
#
# `strata build .#image` builds this derivation: Nix's builtin buildenv builder
# (no shell, no nixpkgs) writes the description as JSON into manifest.nix, and
# lists every store path the description names as an input, so building it
# realises the image's whole contents on every Nix version. Strata then reads the
# closure from those paths with `nix path-info`.
let
  toPath = p: if builtins.isString p then p else "${p}";
  # Store paths as plain strings in the JSON; their context goes to `inputs`.
  plain = v: builtins.unsafeDiscardStringContext v;
in
{
  image =
    { name
    , tag ? null
    , contents ? [ ]
    , copyToRoot ? [ ]
    , config ? { }
    , layers ? [ ]
    , annotations ? { }
    , tmp ? true
    , users ? [ ]
    , caCertificates ? null
    }:
    let
      description = {
        strataImage = 1;
        inherit name tag config annotations tmp users;
        contents = map toPath contents;
        copyToRoot = map toPath copyToRoot;
        layers = map (map toPath) layers;
        caCertificates = if caCertificates == null then null else toPath caCertificates;
      };
      json = builtins.toJSON description;
    in
    derivation {
      name = "${name}-strata-image";
      system = "builtin";
      builder = "builtin:buildenv";
      # No package is linked; the description is the output.
      derivations = "";
      manifest = builtins.toFile "${name}-strata-image.json" (plain json);
      # Carries the context of every store path the description names (contents,
      # and paths inside config strings), so building this realises them all.
      inputs = json;
    }
    // { strataImage = description; };
}
