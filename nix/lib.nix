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
#     fromImage = "docker://docker.io/library/debian@sha256:…";  # or "oci:DIR[:TAG]",
#                                           # "oci-archive:FILE[:TAG]": its layers go
#                                           # first, byte for byte (strata build --from
#                                           # overrides it); `users` replace its /etc/passwd
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

  # builtin:buildenv writes one symlink, out/manifest.nix, whose target is the
  # `manifest` string, and Nix records as references the store paths that string
  # names. A chain of such outputs, each naming up to ~3.5 KB of paths (a symlink
  # holds 4 KB) and the previous link, refers to any number of paths.
  refsChain = name: paths:
    let
      step = acc: s:
        if acc.cur != [ ] && acc.len + builtins.stringLength s + 1 > 3500
        then { chunks = acc.chunks ++ [ acc.cur ]; cur = [ s ]; len = builtins.stringLength s; }
        else { inherit (acc) chunks; cur = acc.cur ++ [ s ]; len = acc.len + builtins.stringLength s + 1; };
      grouped = builtins.foldl' step { chunks = [ ]; cur = [ ]; len = 0; } paths;
      link = prev: chunk: derivation {
        name = "${name}-strata-refs";
        system = "builtin";
        builder = "builtin:buildenv";
        derivations = "";
        manifest = builtins.concatStringsSep ":" ((if prev == null then [ ] else [ "${prev}" ]) ++ chunk);
      };
    in
    builtins.foldl' link null (grouped.chunks ++ [ grouped.cur ]);
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
    , fromImage ? null
    }:
    let
      description = {
        strataImage = 1;
        inherit name tag config annotations tmp users;
        contents = map toPath contents;
        copyToRoot = map toPath copyToRoot;
        layers = map (map toPath) layers;
        caCertificates = if caCertificates == null then null else toPath caCertificates;
      }
      # Only when set, so descriptions without a base keep their store paths.
      // (if fromImage == null then { }
          else if builtins.isString fromImage then { inherit fromImage; }
          else throw "lib.image: fromImage is an image reference string: docker://REGISTRY/REPO[:TAG|@DIGEST], oci:DIR[:TAG] or oci-archive:FILE[:TAG]");
      json = builtins.toJSON description;
      refs = refsChain name (description.contents ++ description.copyToRoot ++ builtins.concatLists description.layers
        ++ (if description.caCertificates == null then [ ] else [ description.caCertificates ])
        # A base in the store (oci:${layout}) is then held and copied with the description.
        ++ (if description ? fromImage then [ description.fromImage ] else [ ]));
    in
    derivation {
      name = "${name}-strata-image";
      system = "builtin";
      builder = "builtin:buildenv";
      # No package is linked. out/manifest.nix points at the description JSON,
      # then names the chain of references, so the output's closure holds the
      # image's contents (a result link keeps them alive, nix copy takes them).
      derivations = "";
      manifest = "${builtins.toFile "${name}-strata-image.json" (plain json)}:${refs}";
      # Carries the context of every store path the description names (contents,
      # and paths inside config strings), so building this realises them all.
      inputs = json;
    }
    // { strataImage = description; };
}
