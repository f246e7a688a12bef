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
    in
    {
      packages.x86_64-linux.default = image "x86_64-linux";
      packages.aarch64-linux.default = image "aarch64-linux";
    };
}
