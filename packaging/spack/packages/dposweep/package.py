# Spack recipe for dposweep (README "Installing").  UNTESTED: Spack is not
# available where dposweep is developed; tests/install/test_recipes.py
# only checks that its version, dependencies and build options agree with
# meson.build, meson_options.txt and the README.
#
#   spack repo add packaging/spack
#   spack dev-build -d . dposweep@main      # build this source tree
#
# To install from a repository, set `git` below to its URL.

from spack.package import *


class Dposweep(MesonPackage):
    """Parameter sweeps of online DPO on bandits, as one MPI job, into one
    parallel HDF5 file, resumable after any interruption; with an analysis
    package for the figures and tables."""

    git = "https://example.invalid/dposweep.git"  # set to the real URL

    license("GPL-3.0-or-later")

    version("main", branch="main")
    version("0.1.0", tag="v0.1.0")

    variant("analysis", default=True,
            description="Install the analysis package and dposweep-report")

    depends_on("c", type="build")
    depends_on("meson@0.63:", type="build")
    depends_on("ninja", type="build")
    depends_on("pkgconfig", type="build")

    depends_on("mpi")
    depends_on("hdf5+mpi")
    depends_on("gsl")
    depends_on("libcyaml")
    depends_on("libyaml")
    depends_on("nettle")
    depends_on("zlib")
    depends_on("check", type="test")

    with when("+analysis"):
        extends("python")
        depends_on("python@3.9:", type=("build", "run"))
        depends_on("py-h5py", type="run")
        depends_on("py-numpy", type="run")
        depends_on("py-matplotlib", type="run")
        depends_on("py-pandas", type="run")
        depends_on("py-xarray", type="run")

    def meson_args(self):
        args = [
            # Man pages need scdoc, which Spack does not package: they are
            # built when one is on the PATH, and skipped with a message
            # otherwise.
            "-Dman=auto",
            "-Dmodulefilesdir=" + join_path(self.prefix.share, "modulefiles"),
        ]
        if self.spec.satisfies("+analysis"):
            args += ["-Danalysis=enabled",
                     "-Dpython=" + self.spec["python"].command.path]
        else:
            args += ["-Danalysis=disabled"]
        return args
