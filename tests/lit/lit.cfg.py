# lit configuration of flexjit's IR and tool tests.
#
# Substitutions:
#   %flex-opt   the build's flex-opt (tools/flex-opt)
#   %flexc      the build's flexc (tools/flexc)
#   %flex-bench the build's flex-bench (tools/flex-bench)
#   %examples   the source tree's examples/ folder
# FileCheck, not and count come from the LLVM 22 tools folder.
import os

import lit.formats

config.name = "flexjit"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".mlir", ".flex", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]

config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.flexjit_obj_root, "tests", "lit")

tools_dir = os.path.join(config.flexjit_obj_root, "tools")
config.substitutions.append(("%flex-opt", os.path.join(tools_dir, "flex-opt", "flex-opt")))
config.substitutions.append(("%flexc", os.path.join(tools_dir, "flexc", "flexc")))
config.substitutions.append(("%flex-bench", os.path.join(tools_dir, "flex-bench", "flex-bench")))
config.substitutions.append(("%examples", os.path.join(config.flexjit_src_root, "examples")))

# The LLVM tools first, so FileCheck and not are the ones of LLVM 22.
config.environment["PATH"] = os.pathsep.join(
    [config.llvm_tools_dir, config.environment.get("PATH", os.environ.get("PATH", ""))])
