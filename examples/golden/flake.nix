{
  description = "Strata's golden example: an image made only of files kept in this repository, so its digest is fixed forever";

  outputs = { self }:
    let
      strata = import ../../nix/lib.nix;
      app = builtins.path { path = ./app; name = "golden-app-1.0"; };
      data = builtins.path { path = ./data; name = "golden-data"; };
      # A text file that refers to both: three store paths with references between them.
      launcher = builtins.toFile "golden-launcher" ''
        #!/bin/sh
        exec ${app}/bin/greet --config ${data}/settings.conf "$@"
      '';
      image = system: strata.image {
        name = "golden";
        tag = "1.0";
        contents = [ launcher ];
        config = {
          Entrypoint = [ "${app}/bin/greet" ];
          Env = [ "LANG=C.UTF-8" ];
          WorkingDir = "/tmp";
          ExposedPorts = [ "8080" ];
          Labels = { "org.opencontainers.image.title" = "golden"; };
        };
        users = [ { name = "app"; uid = 1000; gid = 1000; } ];
      };
      # Two images naming the same explicit base layer: it is the same layer, byte
      # for byte, whatever else each image holds.
      withBase = name: contents: strata.image {
        inherit name contents;
        layers = [ [ app data ] ];
      };
    in
    {
      packages.x86_64-linux.default = image "x86_64-linux";
      packages.aarch64-linux.default = image "aarch64-linux";
      packages.x86_64-linux.based-one = withBase "based-one" [ launcher ];
      packages.x86_64-linux.based-two = withBase "based-two" [ (builtins.toFile "golden-other" "another file on the same base: ${app}\n") ];
    };
}
