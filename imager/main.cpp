#include "imager/imager_process.h"

int main() { return banger::imager::RunImagerProcess(); }
