#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "broker/cli/cli.h"
#include "broker/cli/output.h"

// The one catch of the privileged process: whatever escaped the Result idiom (a library
// that throws) ends this run with one line and exit 1, never an abort. Staging
// directories it leaves are swept by the next pull (docs/broker.md).
int main(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    return banger::broker::RunCli(args, std::cout, std::cerr);
  } catch (const std::exception& e) {
    return banger::broker::ReportInternalError(std::cerr, e.what());
  } catch (...) {
    return banger::broker::ReportInternalError(std::cerr, "an unknown exception");
  }
}
