module example.test/interceptproxyharness

go 1.19
