{
  description = "Strata: Nix flake outputs to byte-identical OCI images, with no container runtime";

  outputs = { self }: {
    # strata.lib.image { name; tag; contents; copyToRoot; config; layers; users; caCertificates; }
    lib = import ./nix/lib.nix;
  };
}
