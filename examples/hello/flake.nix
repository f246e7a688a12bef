{
  description = "A runnable offline example: a shell program on a static busybox, no nixpkgs";

  # ./bb/bin/busybox is a copy of Debian's busybox-static, put there by
  # prepare.sh (busybox needs that exact basename). It is not kept in the repo,
  # so this example's digests follow Debian's busybox and are not golden.
  outputs = { self }:
    let
      strata = import ../../nix/lib.nix;
      system = "x86_64-linux";
      bb = ./bb;
      busybox = derivation {
        name = "busybox-static-1.36";
        inherit system;
        builder = "${bb}/bin/busybox";
        args = [ "sh" "-c" ''
          set -e
          ${bb}/bin/busybox mkdir -p $out/bin
          ${bb}/bin/busybox cp ${bb}/bin/busybox $out/bin/busybox
          for t in sh echo cat ls id; do ${bb}/bin/busybox ln -s busybox $out/bin/$t; done
        '' ];
      };
      hello = derivation {
        name = "hello-2.12";
        inherit system;
        builder = "${busybox}/bin/sh";
        PATH = "${busybox}/bin";
        args = [ "-c" ''
          set -e
          mkdir -p $out/bin $out/share/hello
          printf '#!${busybox}/bin/sh\necho "Hello from a Strata image, running as $(id -u)"\n' > $out/bin/hello
          chmod 555 $out/bin/hello
          ln -s hello $out/bin/hi
          echo "a file with a name longer than one hundred bytes, to exercise pax headers" > $out/share/hello/this-file-name-is-deliberately-longer-than-one-hundred-bytes-so-that-tar-needs-a-pax-header-for-it.txt
        '' ];
      } // { meta.mainProgram = "hello"; };
    in
    {
      packages.${system} = {
        # A plain package: its closure is the image, meta.mainProgram its entrypoint.
        default = hello;
        inherit busybox;
        # A described image: busybox linked at / (so /bin/sh exists), a non-root user.
        image = strata.image {
          name = "hello";
          contents = [ hello ];
          copyToRoot = [ busybox ];
          config = {
            Entrypoint = [ "${hello}/bin/hello" ];
            User = "app";
            Env = [ "PATH=/bin" ];
          };
          users = [ { name = "app"; uid = 1000; gid = 1000; } ];
        };
      };
    };
}
