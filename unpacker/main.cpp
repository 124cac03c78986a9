#include "unpacker/unpacker_process.h"

int main() { return banger::unpacker::RunUnpackerProcess(); }
