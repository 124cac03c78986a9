#include "fetcher/fetcher_process.h"

int main() { return banger::fetcher::RunFetcherProcess(); }
