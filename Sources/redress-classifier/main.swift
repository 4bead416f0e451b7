print("redress-classifier")
