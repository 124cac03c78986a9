#include <iostream>
#include <string>
#include <vector>

#include "broker/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return banger::broker::RunCli(args, std::cout, std::cerr);
}
