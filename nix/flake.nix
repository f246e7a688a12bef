{
  description = "Strata's Nix library alone: lib.image, with nothing else of the repository";

  # Take Strata as a flake input through this directory
  # (github:strata-oci/strata?dir=nix, or path:/…/strata/nix): Nix then copies
  # only these few files into the store, not the whole checkout.
  outputs = { self }: {
    lib = import ./lib.nix;
  };
}
