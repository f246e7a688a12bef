# Copied to OUTDIR/flake.nix by make.sh (it reads OUTDIR/graph.json, src/, apps/, bb/).
# One store path per installed Debian package, referencing its dependencies.
{
  description = "Debian packages mirrored into the Nix store: closures for Strata's layering benchmarks";

  outputs = { self }:
    let
      system = "x86_64-linux";
      graph = builtins.fromJSON (builtins.readFile ./graph.json);
      busybox = "${./bb}/bin/busybox";

      # $out = the package's files (as under /) + nix-support/debian-deps, which
      # names each dependency's store path so that Nix records the references.
      pkgScript = ''
        set -e
        mkdir -p $out
        if [ -n "$src" ]; then cp -a $src/. $out/; fi
        find $out -type d -exec chmod u+w {} +
        mkdir -p $out/nix-support
        : > $out/nix-support/debian-deps
        for d in $deps; do echo $d >> $out/nix-support/debian-deps; done
        echo "$debianPackage" > $out/nix-support/debian-package
        if [ -n "$bump" ]; then echo "$bump" > $out/nix-support/bump; fi
      '';

      # bumps: { <debian package> = "<any text>"; } -> attrset of all packages,
      # the bumped ones with an extra file (so they and all their dependents change).
      debianWith = bumps:
        let
          set = builtins.mapAttrs (pkg: info: derivation {
            inherit system;
            name = info.name;
            builder = busybox;
            args = [ "sh" "-c" pkgScript ];
            src = if info.src then builtins.path {
              path = ./src + "/${pkg}"; name = "${pkg}-src";
              sha256 = info.srcNarHash; # lets Nix skip re-reading a tree already in the store
            } else "";
            deps = map (d: set.${d}) info.deps;
            debianPackage = "${pkg} ${info.version}";
            bump = bumps.${pkg} or "";
          }) graph.packages;
        in set;

      appScripts = {
        # a Python app: the launcher's shebang names python3.11 in the store
        appA = ''
          set -e
          mkdir -p $out/bin $out/lib/appA $out/nix-support
          cp -a $app/. $out/lib/appA/
          find $out -type d -exec chmod u+w {} +
          chmod -R u+w $out/lib/appA
          if [ -n "$change" ]; then echo "$change" >> $out/lib/appA/core.py; fi
          {
            echo "#!$interpreter"
            echo "import sys; sys.path.insert(0, '$out/lib/appA')"
            echo "import core, numpy, scipy, pandas, matplotlib, sklearn, sympy, lxml, requests, yaml"
            echo "print(core.__name__, numpy.__version__)"
          } > $out/bin/appA
          chmod +x $out/bin/appA
          for d in $deps; do echo $d; done > $out/nix-support/app-deps
        '';
        # a Perl/git tool
        appB = ''
          set -e
          mkdir -p $out/bin $out/lib/appB $out/nix-support
          cp -a $app/. $out/lib/appB/
          find $out -type d -exec chmod u+w {} +
          chmod -R u+w $out/lib/appB
          if [ -n "$change" ]; then echo "$change" >> $out/lib/appB/lib/AppB/Temp.pm; fi
          {
            echo "#!$interpreter"
            echo "use lib '$out/lib/appB/lib';"
            echo "use LWP::UserAgent; use DBI; use JSON;"
            echo "exec '$git/usr/bin/git', @ARGV;"
          } > $out/bin/appB
          chmod +x $out/bin/appB
          for d in $deps; do echo $d; done > $out/nix-support/app-deps
        '';
      };

      # An app: its own files + references to its roots in the Debian set.
      appWith = { app, bumps ? { }, change ? "" }:
        let debian = debianWith bumps;
        in derivation ({
          inherit system change;
          name = app;
          builder = busybox;
          args = [ "sh" "-c" appScripts.${app} ];
          app = builtins.path { path = ./apps + "/${app}"; name = "${app}-files"; };
          deps = map (r: debian.${r}) graph.roots.${app};
          interpreter = if app == "appA"
            then "${debian."python3.11-minimal"}/usr/bin/python3.11"
            else "${debian.perl-base}/usr/bin/perl";
        } // (if app == "appB" then { git = debian.git; } else { }));
    in
    {
      lib = { inherit debianWith appWith graph; };

      # every mirrored package, e.g. .#legacyPackages.x86_64-linux.libc6
      legacyPackages.${system} = debianWith { };

      packages.${system} = {
        appA = appWith { app = "appA"; };
        appA-changed = appWith { app = "appA"; change = "# appA: changed (one file of the app only)"; };
        appA-bumped = appWith { app = "appA"; bumps = { ${graph.bump} = "${graph.bump}: bumped (same files, one more)"; }; };
        appB = appWith { app = "appB"; };
        default = self.packages.${system}.appA;
      };
    };
}
